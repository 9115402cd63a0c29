"""`make demo`: the hub's main job on the embedded broker, as a narrated French scenario
(``hub demo``; the story is told in ``connectors/demo/story.py``)."""
