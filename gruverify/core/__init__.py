"""The bottom layer: canonical parameters, call shapes, the problem types and the interface.

Nothing here imports from any other part of gruverify.
"""
