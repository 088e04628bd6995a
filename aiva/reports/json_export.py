"""JSON report: `{"summary": {...}, "findings": [...]}`, streamed one finding at a time.

Every finding is written with all its normalized fields (pydantic's own JSON
serialisation of ReportFinding, so `ReportFinding.model_validate` reads it back
unchanged). Nothing builds the whole document in memory: 100,000 findings cost the
memory of one.
"""

from __future__ import annotations

from typing import BinaryIO

from aiva.reports.model import ReportFinding, RunSummary


class JsonSink:
    """Streams the JSON report into a binary file."""

    def __init__(self, summary: RunSummary, out: BinaryIO) -> None:
        """Write the document's head (the summary) and open the findings array."""
        self._out = out
        self._first = True
        out.write(b'{"summary":')
        out.write(summary.model_dump_json().encode())
        out.write(b',\n"findings":[')

    def add(self, item: ReportFinding) -> None:
        """Append one finding to the array."""
        self._out.write(b"\n" if self._first else b",\n")
        self._first = False
        self._out.write(item.__pydantic_serializer__.to_json(item))  # bytes, no str round trip

    def finish(self) -> None:
        """Close the array and the document."""
        self._out.write(b"\n]}\n")

    def abort(self) -> None:
        """Nothing to release."""
