"""The routes of the web UI: one module per page and its JSON twin.

:mod:`.search` (``/api/search``, remote studies), :mod:`.retrieves` (retrieve jobs),
:mod:`.local` (the local store, series and instances for the viewer), :mod:`.settings`
(remote AEs, C-ECHO) and :mod:`.pages` (the HTML pages).
"""
