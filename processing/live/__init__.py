"""Live analysis: the file pipeline's analyzers fed frame by frame from a stream that does not end on
its own, with levels once a second and incidents as conditions open and close.

No network here either: a source (server/live/) hands over `items` (runs of media to decode, and word
of a lost source, a gap, the end), and `analysis.LiveAnalysis` turns them into events and, at the end,
a report. Nothing is imported here: the wire models (`schema`, `options`) are read without the analysis.
"""
