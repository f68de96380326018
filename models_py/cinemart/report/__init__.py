"""`cinemart report`: one self-contained HTML file that shows what the warehouse holds.

svg draws the charts, page holds the HTML shell and its pieces, build queries
the warehouse and assembles the sections.
"""

from cinemart.report.build import write_report

__all__ = ["write_report"]
