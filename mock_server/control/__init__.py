"""Deployment control: blue-green colours, cluster suspension, admission of calls, the admin service."""
