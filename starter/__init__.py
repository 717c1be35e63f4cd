"""What starts and messages order workflows: the HTTP API, the `oms` command line, the local stack."""
