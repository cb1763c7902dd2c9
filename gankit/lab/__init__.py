"""``gankit lab``: watch and steer a toy GAN as it trains, live in the browser.

``session`` steps gankit's Trainer in a background thread and builds the frames the page
draws (``frame``); ``server`` serves the page and a JSON + Server-Sent Events API over them.
"""
