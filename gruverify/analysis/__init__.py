"""The vanishing-gradient study (``gruverify vanishing``): exact Jacobian products of GRU and RNN,
bounds, tables and figures. Uses the references; nothing in the checker depends on it.
"""
