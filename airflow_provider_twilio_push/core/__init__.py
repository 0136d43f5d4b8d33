"""The request core of the hook, one module per job and free of I/O (the hook moves the bytes).

- ``settings``: an Airflow connection checked and turned into settings, base URL, client options;
- ``request``: every check of user input, and the API requests built from it;
- ``response``: an answer turned into a model or a typed error (one JSON decoder);
- ``retries``: which failures are retried (reads, sends), how long to wait, tenacity's options;
- ``pacing``: the requests to one account spaced out and paused after a 429, per process;
- ``paging``: which page to ask for next, for the operations and an operation's errors;
- ``progress``: an operation's progress as one line for the task log.
"""
