"""Reverse prompting: turning an asset image into a text-to-image prompt and a description.

``schema`` (the answer), ``template`` (what is asked, and its version), ``backend`` (what a
vision backend is) with ``gemini`` (one request through the google-genai SDK) and
``openai_backend`` (one request to an OpenAI-compatible server on the team's own GPU),
``backend_choice`` (the one the settings name), ``limiter`` and ``retry`` (how requests are paced
and retried), ``cache`` (answers already paid for), ``offline`` (a useful prompt without a
model), ``runner`` (all of it over a batch of assets). Nothing here imports google-genai or
openai at import time.
"""
