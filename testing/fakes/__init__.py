"""Loopback fakes (no patched client internals), each a real server on
127.0.0.1 serving from `testing.loopback.LoopbackHTTP`:

- `slack_api.FakeSlackWebAPI`: the Slack Web API (real HTTP).
- `llm_server.ScriptedLLM`: an OpenAI-compatible chat completions API.
- `research.FakeSerper`, `research.PageSite`: the search API and pages to read.

and what is built on them:

- `scenario`: the scripted Lisbon trip most tests and suites play.
- `slack_requests`: Slack-signed requests and payload builders, `send`.
- `trips.RecordingTripControl`: a TripControl that records calls.
- `slack_bot.start_slack_bot`: the whole Slack edge (Bolt + aiohttp) on
  127.0.0.1 against the fake API.
- `slack_install.install_app`: a person installing the app through OAuth.
"""
