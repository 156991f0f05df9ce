"""The browser client's static files (index.html, app.css, js/). Data only: served by server/routes/web.py."""
