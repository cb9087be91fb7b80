"""The processes `travel-planner` starts. Each is a composition root: it
wires the durable core (`workflows/`) to its adapters (`bot/` for Slack,
`travel_planner/terminal.py` for the terminal) and runs until it is stopped.

- `run`: Bolt, the worker and the embedded durable store in one process.
  Socket Mode when `SLACK_APP_TOKEN` is set, else HTTP on `$PORT`.
- `web`: Bolt over HTTP against Postgres or a Resonate server; starts trips,
  delivers replies. With OAuth (SLACK_CLIENT_ID...), installations are kept
  in Postgres at DATABASE_URL for every process; `run` keeps them beside its
  state.
- `worker`: runs trips against Postgres or a Resonate server and posts to
  Slack only through the chat port (`bot.slack_chat`).
- `chat`: one trip in the terminal, on the embedded store.

What the Slack processes share: `workspaces` (which workspaces a process
serves), `slack_process` (a Slack process's life: its runtime, chat ports,
signals) and `slack_edge` (the Bolt app, served over HTTP or Socket Mode).

Everything shares one asyncio loop per process: the Resonate SDK is not
thread-safe, and Bolt's `AsyncApp` acks on the same loop in milliseconds.
Nothing in `bot/`, `workflows/` or `travel_planner/` imports this package,
except the command line (`travel_planner.cli`), which starts a process.
"""
