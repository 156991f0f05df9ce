"""Storage: the only code that touches SQL. `db.Database` owns the thread; the other modules are
plain `def f(conn, ...)` query functions that import neither trio nor `server/`."""
