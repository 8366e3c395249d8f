"""The public Images API v2 process: a Flask application served by gunicorn."""
