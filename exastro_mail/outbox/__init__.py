"""The outbox: every mail is a row first; a worker delivers it.

enqueue.py puts a mail in (and retries or discards it for an operator); kinds.py declares the kinds of
mail and the hooks the worker calls around each; claim.py hands due rows to one worker under a lease
(due.py: which rows, in what order); pool.py delivers organizations side by side and keeps the leases
alive; kept.py writes an outcome the server gave until the database takes it; retry.py says when a
failed mail is tried again; compose.py builds the message; worker.py is the loop, periodic.py its
periodic tasks; status.py names the states a mail goes through.
"""
