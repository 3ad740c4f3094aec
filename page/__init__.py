"""The page's tabs: layout and event wiring only; the backend does the work, viz/ draws it."""
