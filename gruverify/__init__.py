"""gruverify: a verification suite for GRU implementations."""
