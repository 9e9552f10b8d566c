#!/usr/bin/python3
"""A tiny RTSP camera for the PlayerEndpoint tests (camview_common::testing::rtsp):
GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0) serving H.264 (x264, baseline)
of a test pattern and G.711 audio at rtsp://127.0.0.1:PORT/cam behind digest auth
(USER/PASSWORD).

    rtsp_camera.py PORT USER PASSWORD [udp] [inband-params] [pcma|aac]

With "udp" it refuses TCP-interleaved transport (RTP only over UDP); with "inband-params" the
SPS/PPS also travel in the stream (by default only in the SDP, as many cameras do). The audio
is G.711 mu-law (PCMU, payload type 0) unless "pcma" (A-law, 8) or "aac" (AAC-LC through
voaacenc, mpeg4-generic, 97) is given.

Prints "READY <port>" on stdout once it listens; runs until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


AUDIO = {
    "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
    "pcma": "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8",
    "aac": "audio/x-raw,rate=16000,channels=1 ! audioconvert ! voaacenc ! rtpmp4gpay name=pay1 pt=97",
}


def pipeline(inband_params, audio):
    """H.264 of a test pattern plus audio (G.711 by default), as most IP cameras send. Many
    cameras put the SPS/PPS only in the SDP (sprop-parameter-sets): that is the default here;
    with inband_params they also come before every keyframe."""
    repeat = "" if inband_params else " option-string=repeat-headers=0"
    interval = " config-interval=-1" if inband_params else ""
    return (
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=300{repeat} "
        "! video/x-h264,profile=constrained-baseline "
        f"! rtph264pay name=pay0 pt=96{interval} "
        f"audiotestsrc is-live=true wave=sine ! {AUDIO[audio]} )"
    )


def main():
    port, user, password, flags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    auth.add_digest(user, password, token)
    server.set_auth(auth)
    factory = GstRtspServer.RTSPMediaFactory()
    audio = next((f for f in flags if f in AUDIO), "pcmu")
    factory.set_launch(pipeline("inband-params" in flags, audio))
    factory.set_shared(True)
    if "udp" in flags:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
