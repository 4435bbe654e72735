"""Django project for the human-evaluation annotation app."""
