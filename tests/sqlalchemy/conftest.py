# SQLAlchemy's compliance suite runs in its own pytest session (its plugin takes over the session);
# test_compliance_suite.py launches it against a live engine.
collect_ignore = ["suite"]
