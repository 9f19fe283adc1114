"""The fal queue API: SeedDream 4.5, Qwen image edit, SeedVR2, Aura SR, Kling and Seedance.

A thin httpx client (the ``fal-client`` SDK reads its hosts from the environment at import and
assumes https). ``submit`` POSTs the model's input to ``{LIKENESS_FAL_QUEUE_URL}/{model_id}``
(``Authorization: Key ...``) and keeps the ``status_url`` / ``response_url`` / ``cancel_url`` the
queue answers (built on the app id, so they are used as given, never rebuilt); ``collect`` polls
the status and, once ``COMPLETED``, reads the result and downloads its files through the
outbound URL guard with a size cap, checking what they are. A 422 whose ``type`` is a content
policy violation is a refusal; other 422s are bad input. The job system parks a job between
polls (``DeferredEngine``), so a ten-minute video holds no worker; ``run`` waits in place.

Inputs are sent as data URIs, which every fal model accepts, so no input has to be public.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from likeness.engines.base import EngineError, EngineOutput, EngineRequest, Operation
from likeness.engines.providers.base import (
    Failure,
    HostedEngine,
    SharedClients,
    data_uri,
    full_prompt,
    image_output,
    retry_after_seconds,
    video_output,
)
from likeness.engines.sizes import output_size

REFUSAL_TYPES = frozenset({"content_policy_violation", "content_policy", "nsfw", "safety"})
OUTPUT_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp", "video/mp4", "application/octet-stream")
_POLL_SECONDS = 1.0

_clients = SharedClients()


class _HttpStatus(Exception):
    def __init__(self, response: Any) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _http(timeout: float) -> Any:
    """One pooled httpx client per timeout; the key travels per request, never in the client."""

    def build() -> Any:
        import httpx

        return httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False)

    return _clients.get(build, "fal", timeout)


# per video model family: the input field names it documents
_VIDEO_FIELDS: dict[str, dict[str, str | None]] = {
    "kling3": {"start": "start_image_url", "end": "end_image_url", "audio": "generate_audio"},
    "kling25": {"start": "image_url", "end": "tail_image_url", "audio": None},
    "seedance2": {
        "start": "image_url",
        "end": None,
        "audio": "generate_audio",
        "refs": "reference_image_urls",
    },
    "seedance15": {"start": "image_url", "end": "end_image_url", "audio": "generate_audio"},
}
_FAMILY_BY_SLUG = {
    "kling-3-pro": "kling3",
    "kling-2-5-turbo-pro": "kling25",
    "seedance-2": "seedance2",
    "seedance-1-5-pro": "seedance15",
}


def _integer_seed(seed: int | str | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, int):
        return seed & 0x7FFFFFFF
    import hashlib

    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:4], "big") & 0x7FFFFFFF


class FalEngine(HostedEngine):
    # ------------------------------------------------------------------ the model's input
    def endpoint(self, request: EngineRequest) -> str:
        if self.model.kind == "image" and not request.references() and self.route.text_model_id:
            return self.route.text_model_id
        return self.route.model_id

    def arguments(self, request: EngineRequest) -> dict[str, Any]:
        """The JSON input the model documents, from the request."""
        seed = _integer_seed(request.seed)
        if self.model.kind == "upscale":
            source = request.base_image or (request.face_images[0] if request.face_images else None)
            if source is None:
                raise EngineError("an upscale needs the image to enlarge", code="missing_input")
            factor = int(request.params.get("factor") or 2)
            if self.model.slug == "aura-sr":
                return {"image_url": data_uri(source), "upscaling_factor": factor}
            target = request.params.get("target_resolution")
            args: dict[str, Any] = {"image_url": data_uri(source)}
            if target:
                args.update(upscale_mode="target", target_resolution=target)
            else:
                args.update(upscale_mode="factor", upscale_factor=factor)
            if seed is not None:
                args["seed"] = seed
            return args
        if self.model.kind == "video":
            return self._video_arguments(request, seed)
        references = request.references()
        args = {"prompt": full_prompt(request, references), "num_images": max(1, request.count)}
        if references:
            args["image_urls"] = [data_uri(ref.image) for ref in references]
        if request.resolution or (request.aspect_ratio and request.aspect_ratio != "auto"):
            width, height = output_size(request.resolution, request.aspect_ratio)
            args["image_size"] = {"width": width, "height": height}
        if seed is not None:
            args["seed"] = seed
        return args

    def _video_arguments(self, request: EngineRequest, seed: int | None) -> dict[str, Any]:
        family = _FAMILY_BY_SLUG.get(self.model.slug, "seedance15")
        fields = _VIDEO_FIELDS[family]
        start = request.base_image or (request.face_images[0] if request.face_images else None)
        if start is None:
            raise EngineError("a video starts from an image, and this request has none", code="missing_input")
        args: dict[str, Any] = {"prompt": request.prompt.strip() or "natural, subtle motion"}
        args[str(fields["start"])] = data_uri(start)
        if request.duration:
            args["duration"] = str(request.duration)
        if request.last_frame is not None:
            if not fields.get("end"):
                raise EngineError(f"{self.model.slug} cannot take a last frame", code="unsupported_parameter")
            args[str(fields["end"])] = data_uri(request.last_frame)
        if request.audio:
            if not fields.get("audio"):
                raise EngineError(f"{self.model.slug} cannot generate audio", code="unsupported_parameter")
            args[str(fields["audio"])] = True
        if family.startswith("seedance"):
            args["resolution"] = "720p"
            if request.aspect_ratio and request.aspect_ratio != "auto":
                args["aspect_ratio"] = request.aspect_ratio
        # the start frame aside, identity and style images are references for the models that take them
        identities = request.face_images if request.base_image is not None else request.face_images[1:]
        refs = [*identities, *request.style_images]
        if refs and fields.get("refs"):
            args[str(fields["refs"])] = [data_uri(image) for image in refs]
        if seed is not None and family.startswith("seedance"):
            args["seed"] = seed
        return args

    # ------------------------------------------------------------------ the queue
    def _headers(self) -> dict[str, str]:
        assert self.config.api_key is not None
        return {
            "Authorization": f"Key {self.config.api_key.get_secret_value()}",
            "Accept": "application/json",
        }

    def _send(self, method: str, url: str, *, json: Any = None) -> Any:
        response = _http(self.settings.provider_timeout_seconds).request(
            method, url, json=json, headers=self._headers()
        )
        if response.status_code >= 400:
            raise _HttpStatus(response)
        return response

    def submit(self, request: EngineRequest) -> dict[str, Any]:
        self.check(request)
        endpoint = self.endpoint(request)
        arguments = self.arguments(request)
        response = self.call(
            "submit",
            lambda: self._send("POST", f"{self.config.base_url}/{endpoint}", json=arguments),
            deadline=request.deadline,
        )
        body = _json(response, "the queue's answer to a submit")
        handle = {
            "provider": "fal",
            "model_id": endpoint,
            "request_id": body.get("request_id"),
            "status_url": body.get("status_url"),
            "response_url": body.get("response_url"),
            "cancel_url": body.get("cancel_url"),
        }
        if not all(
            isinstance(handle[k], str) and handle[k] for k in ("request_id", "status_url", "response_url")
        ):
            raise EngineError(
                "fal answered a submit without request_id, status_url and response_url", code="provider_error"
            )
        return handle

    def collect(self, handle: Mapping[str, Any], request: EngineRequest) -> list[EngineOutput] | None:
        response = self.call(
            "status", lambda: self._send("GET", str(handle["status_url"])), deadline=request.deadline
        )
        status = str(_json(response, "the request status").get("status", ""))
        if response.status_code == 202 or status in ("IN_QUEUE", "IN_PROGRESS"):
            return None
        if status != "COMPLETED":
            raise EngineError(f"fal reported the request as {status or 'unknown'}", code="provider_error")
        result = self.call(
            "result", lambda: self._send("GET", str(handle["response_url"])), deadline=request.deadline
        )
        return self._outputs(_json(result, "the request's result"), request, handle)

    def cancel(self, handle: Mapping[str, Any]) -> None:
        url = handle.get("cancel_url") or f"{handle.get('response_url')}/cancel"
        try:
            _http(10.0).request("PUT", str(url), headers=self._headers())
        except Exception as exc:  # best effort: the request may already be done
            from likeness.observability import logger

            logger.warning(
                "could not cancel a fal request",
                request_id=handle.get("request_id"),
                error=type(exc).__name__,
            )

    def generate(self, request: EngineRequest) -> list[EngineOutput]:
        """Submit and wait in place (outside the job system's parking)."""
        handle = self.submit(request)
        while True:
            outputs = self.collect(handle, request)
            if outputs is not None:
                return outputs
            if request.deadline is not None and time.time() + _POLL_SECONDS >= request.deadline:
                self.cancel(handle)
                raise EngineError("fal did not finish before the job's deadline", code="deadline_exceeded")
            self._sleep(_POLL_SECONDS)

    def run(self, request: EngineRequest) -> list[EngineOutput]:
        return self.generate(request)

    # ------------------------------------------------------------------ outputs
    def _outputs(
        self, body: Mapping[str, Any], request: EngineRequest, handle: Mapping[str, Any]
    ) -> list[EngineOutput]:
        details = {
            "provider": "fal",
            "provider_model": handle.get("model_id"),
            "request_id": handle.get("request_id"),
        }
        if "seed" in body:
            details["seed"] = body["seed"]
        if request.operation is Operation.VIDEO:
            video = body.get("video")
            if not isinstance(video, dict) or not video.get("url"):
                raise EngineError("fal's result has no video", code="provider_error")
            return [video_output(self._download(str(video["url"])), request, provider="fal", details=details)]
        files = body.get("images")
        if not isinstance(files, list):
            single = body.get("image")
            files = [single] if isinstance(single, dict) else []
        files = [f for f in files if isinstance(f, dict) and f.get("url")]
        if not files:
            raise EngineError("fal's result has no image", code="provider_error")
        return [
            image_output(self._download(str(f["url"])), request, provider="fal", details=details)
            for f in files
        ]

    def _download(self, url: str) -> bytes:
        """An output file: through the outbound guard, capped; data URIs are decoded in place."""
        if url.startswith("data:"):
            import base64

            header, _, payload = url.partition(",")
            try:
                return base64.b64decode(payload) if ";base64" in header else payload.encode()
            except ValueError as exc:
                raise EngineError(
                    "fal's result has a data URI that is not base64", code="provider_error"
                ) from exc
        from likeness.net import fetch_url

        try:
            return fetch_url(
                url,
                allow_private=self.settings.allow_private_urls,
                max_bytes=self.settings.provider_max_output_bytes,
                timeout=60.0,
                allowed_content_types=OUTPUT_CONTENT_TYPES,
            ).data
        except Exception as exc:
            raise EngineError(f"fal's output could not be downloaded: {exc}", code="provider_error") from exc

    def classify(self, exc: Exception) -> Failure | None:
        import httpx

        if isinstance(exc, _HttpStatus):
            response = exc.response
            try:
                body = response.json()
            except ValueError:
                body = {}
            detail = body.get("detail") if isinstance(body, dict) else None
            refused = False
            if isinstance(detail, list):
                types = {str(d.get("type", "")) for d in detail if isinstance(d, dict)}
                refused = bool(types & REFUSAL_TYPES)
                message = "; ".join(
                    f"{'.'.join(str(p) for p in d.get('loc', [])[1:]) or 'input'}: {d.get('msg', '')}"
                    for d in detail
                    if isinstance(d, dict)
                )
            else:
                message = str(detail or response.reason_phrase or "")
            return Failure(
                status=response.status_code,
                message=message,
                refused=refused,
                retry_after=retry_after_seconds(response.headers),
            )
        if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
            return Failure(status=None, message=type(exc).__name__)
        return None


def _json(response: Any, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise EngineError(
            f"fal answered {what} with something that is not JSON", code="provider_error"
        ) from exc
    if not isinstance(body, dict):
        raise EngineError(f"fal answered {what} with JSON that is not an object", code="provider_error")
    return body
