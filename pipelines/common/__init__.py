"""Pieces shared by the three pipeline builders: SDK session, step scripts, build context, step factories."""
