"""Flowdash's messaging layer: everything that talks to SNS and SQS.

Plain Python with no Django imports, so it can drive a moto server, LocalStack or
real AWS from a script as well as from the dashboard. The dashboard builds one
`Connection` from its settings and passes it to the functions here.
"""
