"""Loopback fakes shared by the test suites (no patched client internals).

- `slack_api.FakeSlackWebAPI`: the Slack Web API on 127.0.0.1 (real HTTP).
- `slack_requests`: Slack-signed requests and payload builders, `send`.
- `trips.RecordingTripControl`: a TripControl that records calls.
- `loop.LoopThread`: an asyncio loop on a thread, for sync tests.
- `slack_bot.start_slack_bot`: the whole Slack edge (Bolt + aiohttp) on
  127.0.0.1 against the fake API.
"""
