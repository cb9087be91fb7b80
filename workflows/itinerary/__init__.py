"""The structured plan a trip finishes with: its model and validation
(`model`), its Markdown text (`markdown`) and its calendar (`calendar`)."""
