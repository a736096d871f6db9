"""ChesapeakeCVPR fixture generator."""
