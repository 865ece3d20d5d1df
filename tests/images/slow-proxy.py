#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that passes what the upstream sends at RATE
bytes a second, so that a pull takes long enough to show progress.

usage: slow-proxy.py LISTEN_PORT UPSTREAM_PORT RATE
"""
import asyncio, sys

listen, upstream, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


async def pipe(reader, writer, slow):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
            if slow:
                await asyncio.sleep(len(data) / rate)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def client(reader, writer):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))


async def main():
    server = await asyncio.start_server(client, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
