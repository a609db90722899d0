"""The lipsync stage: faces and shots in the source video, and how well mouths follow speech.

So far: shot changes (`shots`), faces followed per shot with their mouth opening (`track`), and
the sync measure between a mouth and a soundtrack (`sync`). The mouth-patch engine that makes
the mouth follow the dubbed words builds on these.
"""
