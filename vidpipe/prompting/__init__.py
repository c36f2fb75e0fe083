"""Reverse prompting: turning an asset image into a text-to-image prompt and a description.

``schema`` (the answer), ``template`` (what is asked, and its version), ``gemini`` (one request
through the google-genai SDK), ``limiter`` and ``retry`` (how requests are paced and retried),
``cache`` (answers already paid for), ``offline`` (a useful prompt without a model),
``runner`` (all of it over a batch of assets). Nothing here imports google-genai at import time.
"""
