"""Thin HTTP routes over the plain functions of the gateway and the other parts."""
