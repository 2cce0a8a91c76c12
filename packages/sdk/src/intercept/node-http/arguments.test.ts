import http from 'node:http';
import https from 'node:https';
import { describe, expect, it } from 'vitest';
import { describeCall } from './arguments.js';
import type { HttpModule } from './context.js';

const httpModule = http as unknown as HttpModule;
const httpsModule = https as unknown as HttpModule;
const callback = () => {};

describe('describeCall: the forms of http(s).request', () => {
  it('(url string): target from the URL, default port of the scheme', () => {
    const call = describeCall(httpModule, ['http://api.example.com/v1?x=1']);
    expect(call?.target).toEqual({ scheme: 'http', host: 'api.example.com', port: 80, path: '/v1?x=1', method: 'GET' });
    expect(call?.input).toBe('http://api.example.com/v1?x=1');
    expect(call?.options).toBeUndefined();
  });

  it('(URL, options, callback): the options override the URL; the callback is kept', () => {
    const url = new URL('https://api.example.com:8443/v1');
    const options = { method: 'post', path: '/v2' };
    const call = describeCall(httpsModule, [url, options, callback]);
    expect(call?.target).toEqual({ scheme: 'https', host: 'api.example.com', port: 8443, path: '/v2', method: 'POST' });
    expect(call?.input).toBe(url);
    expect(call?.options).toBe(options);
    expect(call?.callback).toBe(callback);
  });

  it('(url, callback): no options', () => {
    const call = describeCall(httpModule, ['http://[::1]:8080/', callback]);
    expect(call?.target).toEqual({ scheme: 'http', host: '::1', port: 8080, path: '/', method: 'GET' });
    expect(call?.options).toBeUndefined();
    expect(call?.callback).toBe(callback);
  });

  it('(options, callback): host, default port and protocol of the module\'s agent', () => {
    const options = { host: 'api.example.com', path: '/x' };
    const call = describeCall(httpsModule, [options, callback]);
    expect(call?.target).toEqual({ scheme: 'https', host: 'api.example.com', port: 443, path: '/x', method: 'GET' });
    expect(call?.options).toBe(options);
    expect(call?.merged).toBe(options);
    expect(call?.callback).toBe(callback);
  });

  it('hostname wins over host, brackets are stripped, a string port is read', () => {
    const call = describeCall(httpModule, [{ hostname: '[2001:db8::1]', host: 'ignored.example', port: '9000' }]);
    expect(call?.target).toMatchObject({ host: '2001:db8::1', port: 9000, path: '/' });
  });

  it('no host: localhost, as Node', () => {
    expect(describeCall(httpModule, [{}])?.target).toEqual({ scheme: 'http', host: 'localhost', port: 80, path: '/', method: 'GET' });
  });

  it('agent: false uses the scheme default port', () => {
    expect(describeCall(httpsModule, [{ host: 'a.example', agent: false }])?.target.port).toBe(443);
  });

  it('leaves to Node what it cannot place a credential on', () => {
    const left = [
      [{ socketPath: '/tmp/x.sock' }],
      [{ host: 'a.example', createConnection: () => undefined }],
      [{ host: 'a.example', agent: new http.Agent({ socketPath: '/tmp/x.sock' } as http.AgentOptions) }],
      [{ host: 'a.example', method: 'CONNECT' }],
      [{ host: 'proxy.example', path: 'http://a.example/x' }],
      [{ host: 'a.example', protocol: 'ftp:' }],
      [{ host: 'a.example', port: 70000 }],
      [{ host: 'a.example', agent: {} }],
      ['not a url'],
      ['http://a.example/', 42],
      [42],
    ];
    for (const args of left) expect(describeCall(httpModule, args), JSON.stringify(args)).toBeUndefined();
  });
});
