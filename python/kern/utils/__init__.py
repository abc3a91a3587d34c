"""Small utilities of the Kern Python package, e.g. :func:`kern.utils.pprint.pprint_run_response`."""
