"""Outputs of a report: the JSON document, the text summary and the figures. Each walks the
analysis table and the results' fields; none names an analysis."""
