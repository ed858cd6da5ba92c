"""kzoo-serve: kzoo exports as a batched, monitored network API (TF Serving's REST protocol).

`kzoo.cli.serve` is the command line; `server.build_server` puts the parts together; `app` is the only
module that knows the web framework (FastAPI on uvicorn).
"""
