"""Vision: capture frames in, marks and identifiers out.

Entry points: :func:`station.vision.pipeline.read_item` for one capture and
:func:`station.vision.io.read_files` for image files.
"""
