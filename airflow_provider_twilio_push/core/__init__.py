"""The core of the hook and the triggers, one module per job and free of I/O (the hook and the
triggers move the bytes).

- ``settings``: an Airflow connection checked and turned into settings, base URL, client options;
- ``request``: every check of user input, and the API requests built from it;
- ``response``: an answer turned into a model or a typed error (one JSON decoder);
- ``retries``: which failures are retried (reads, sends) or waited out, how long to wait,
  tenacity's options;
- ``pacing``: the requests to one account spaced out and paused after a 429, per process;
- ``paging``: which page to ask for next, for the operations and an operation's errors;
- ``progress``: an operation's progress as one line for the task log;
- ``watching``: what a watcher of many operations asks for next (one sweep of the list, or GETs);
- ``events``: what the event trigger reports, from the operations it listed.
"""
