"""Counts records per key of topic `in` into store `counts`, writing every new count to
`out`; runs until SIGTERM. Usage: count_app.py BOOTSTRAP APPLICATION_ID STATE_DIR IN OUT"""

import sys

from kstreams import App, StreamsBuilder

bootstrap, app_id, state_dir, source, sink = sys.argv[1:6]
builder = StreamsBuilder()
builder.stream(source).group_by_key().count("counts").to_stream().to(sink)
app = App(app_id, bootstrap, state_dir=state_dir, commit_interval_ms=100)
print("starting", flush=True)
app.run(builder)
print("closed", flush=True)
