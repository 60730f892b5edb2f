"""The references: the GRU and tanh RNN in float64 numpy (explicit equations, analytic backward)
and in torch (explicit ops, autograd, any device and dtype), finite differences, and the
references as ``Implementation``s. Built on ``gruverify.core`` only.
"""
