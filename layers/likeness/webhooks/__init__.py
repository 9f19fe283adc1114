"""Signed webhooks: saved endpoints, request-level targets, delivery with retries, the event log.

The API (functions/webhook_api) uses ``WebhookService``; the WebhookQueue consumer
(functions/webhook_delivery) uses ``WebhookDispatcher``. Build both with ``likeness.wiring``.
"""
