"""The HTML pages the API serves: the agent console (/console) and the customer pages (/my).

`session` signs people in with their token and guards every page and form; `templating` renders the pages;
`pages` mounts the static files, the sign-in routes and every page router on the app.
"""
