"""Fetching a job's dataset URL and hub model into the cache on the account's data volume, before any worker.

One module per kind of source (``s3``, ``https``, ``hub``) behind one call, ``fetch_source``; ``common`` holds
what they share: retries with backoff, progress lines, the manifest that marks a complete copy, and the atomic
swap of a new copy into place. The real client libraries do the transfers (minio for S3, httpx, huggingface_hub);
credentials reach them only through their own environment variables (from the source credentials Secret) and are
never put into a message.
"""
