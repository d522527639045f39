"""The official `pusher` PyPI package as a Python backend would use it,
pointed at natter: trigger to a channel, read the channel's state, and sign a
bad request. Prints one JSON object with what it saw (read by reverb.test.js).

Usage: pusher_client.py HOST PORT APP_ID KEY SECRET CHANNEL
"""
import json
import sys

import pusher


def main():
    host, port, app_id, key, secret, channel = sys.argv[1:7]
    client = pusher.Pusher(app_id=app_id, key=key, secret=secret, host=host, port=int(port), ssl=False)
    seen = {}
    seen["trigger"] = client.trigger(channel, "FromPython", {"language": "python"})
    seen["channel"] = client.channel_info(channel, ["subscription_count"])
    seen["batch"] = client.trigger_batch([{"channel": channel, "name": "FromPython", "data": {"n": 2}}])
    wrong = pusher.Pusher(app_id=app_id, key=key, secret="wrong-secret", host=host, port=int(port), ssl=False)
    try:
        wrong.trigger(channel, "FromPython", {"refused": True})
        seen["wrong_secret"] = "accepted"
    except pusher.errors.PusherBadAuth:
        seen["wrong_secret"] = "401"
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
