"""The planner's web tools: `internet_search` and `scrape_website`.

    tools = WebTools.from_env(os.environ)       # ConfigError names a missing variable
    text = await tools.internet_search("lisbon tram 28 hours", 5)
    text = await tools.scrape_website("https://example.com/page")

Both return what the LLM should read. Web content inside that text is fenced
(see UNTRUSTED_CONTENT_RULE, which belongs in the system prompt); failures
start with SEARCH_FAILED or PAGE_UNREADABLE (`is_tool_error`).
"""

from workflows.tools.outcomes import PAGE_UNREADABLE, SEARCH_FAILED, is_tool_error
from workflows.tools.specs import TOOL_SPECS
from workflows.tools.untrusted import UNTRUSTED_CONTENT_RULE
from workflows.tools.web_tools import WebTools

__all__ = [
    "PAGE_UNREADABLE",
    "SEARCH_FAILED",
    "TOOL_SPECS",
    "UNTRUSTED_CONTENT_RULE",
    "WebTools",
    "is_tool_error",
]
