"""Text feedback: sentiment of every comment, note and feedback text, themes, and feature
requests counted across customers (see ``sentiment``, ``themes`` and ``requests``)."""
