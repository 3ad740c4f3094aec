"""The page's tabs: layout and event wiring only; the backend does the work, viz/ draws it.

Never does model math or measures anything itself; every user-facing error goes through
page/common.run_backend, so no traceback or server path reaches a user."""
