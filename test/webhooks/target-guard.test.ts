import http from 'node:http';
import https from 'node:https';
import { describe, expect, it } from 'vitest';
import { sendWebhook } from '../../src/webhooks/send-webhook';
import { resolveTarget, staticTargetProblem } from '../../src/webhooks/target-guard';
import { startReceiver } from './webhook-receiver';

const strict = { allowLoopback: false, allowPrivateNetworks: false };
const development = { allowLoopback: true, allowPrivateNetworks: false };
const privateAllowed = { allowLoopback: false, allowPrivateNetworks: true };

describe('webhook target guard', () => {
  it('allows plain http only to loopback, and only when loopback is allowed', () => {
    expect(staticTargetProblem(new URL('http://127.0.0.1:8080/h'), development)).toBeUndefined();
    expect(staticTargetProblem(new URL('http://localhost/h'), development)).toBeUndefined();
    expect(staticTargetProblem(new URL('http://[::1]/h'), development)).toBeUndefined();
    expect(staticTargetProblem(new URL('http://127.0.0.1/h'), strict)).toMatch(/https/);
    expect(staticTargetProblem(new URL('http://shop.example/h'), development)).toMatch(/loopback/);
    expect(staticTargetProblem(new URL('https://shop.example/h'), strict)).toBeUndefined();
  });

  it.each([
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'private'],
    ['[fd00::1]', 'private'],
    ['169.254.10.1', 'link-local'],
    ['[fe80::1]', 'link-local'],
    ['127.0.0.1', 'loopback'],
    ['[::1]', 'loopback'],
  ])('refuses %s (%s) unless allowed explicitly', async (host, kind) => {
    const url = new URL(`https://${host}/hooks`);
    await expect(resolveTarget(url, strict)).rejects.toThrow(kind);
    const allowing = kind === 'loopback' ? development : privateAllowed;
    await expect(resolveTarget(url, allowing)).resolves.toBeDefined();
  });

  it.each([
    '0.0.0.0',
    '224.0.0.1',
    '[::ffff:127.0.0.1]',
    '[::ffff:a00:1]',
    '[64:ff9b::a00:1]',
    '[::]',
    '[::127.0.0.1]',
    '[64:ff9b:1::a00:1]',
    '[fec0::1]',
  ])('always refuses %s (reserved, or IPv4 hidden in IPv6)', async (host) => {
    const everything = { allowLoopback: true, allowPrivateNetworks: true };
    await expect(resolveTarget(new URL(`https://${host}/hooks`), everything)).rejects.toThrow(/reserved/);
  });

  it.each([
    '169.254.169.254',
    '169.254.170.2',
    '169.254.170.23',
    '100.100.100.200',
    '168.63.129.16',
    '[fd00:ec2::254]',
    '[fd00:ec2::23]',
  ])(
    'always refuses the cloud metadata service %s, even where private networks are allowed',
    async (host) => {
      const everything = { allowLoopback: true, allowPrivateNetworks: true };
      await expect(resolveTarget(new URL(`https://${host}/hooks`), everything)).rejects.toThrow(
        /cloud metadata service/,
      );
      expect(staticTargetProblem(new URL(`https://${host}/hooks`), everything)).toMatch(/metadata/);
    },
  );

  it('checks every address a name resolves to: localhost is loopback', async () => {
    await expect(resolveTarget(new URL('https://localhost/hooks'), strict)).rejects.toThrow(/loopback/);
  });

  it('records a refused target without sending anything, and bounds a receiver that never answers', async () => {
    const receiver = await startReceiver();
    const agents = { http: new http.Agent(), https: new https.Agent() };
    const refused = await sendWebhook({
      url: receiver.url,
      headers: {},
      body: '{}',
      timeoutMs: 1000,
      rules: strict,
      agents,
    });
    expect(refused).toMatchObject({ delivered: false, errorClass: 'target_refused' });
    expect(receiver.received).toHaveLength(0);

    receiver.handle = () => {};
    const hung = await sendWebhook({
      url: receiver.url,
      headers: {},
      body: '{}',
      timeoutMs: 300,
      rules: development,
      agents,
    });
    expect(hung).toMatchObject({ delivered: false, errorClass: 'timeout' });
    expect(receiver.received).toHaveLength(1);

    // A huge answer is read only up to the bound; the outcome still comes from the status code.
    receiver.handle = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (response.write(chunk)) {}
        response.once('drain', pump);
      };
      response.on('error', () => {});
      pump();
    };
    const huge = await sendWebhook({
      url: receiver.url,
      headers: {},
      body: '{}',
      timeoutMs: 5000,
      rules: development,
      agents,
    });
    expect(huge).toMatchObject({ delivered: true, statusCode: 200 });
    agents.http.destroy();
    await receiver.close();
  });
});
