import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_QUEUED_CALLS, createCallQueue, replayStub } from '../../src/queue.js';

describe('pre-init call queue', () => {
  test('drains in order, including calls queued while draining', () => {
    const queue = createCallQueue();
    queue._push(['track', ['a'], 1]);
    queue._push(['track', ['b'], 2]);
    const seen = [];
    queue._drain((call) => {
      seen.push(call[1][0]);
      if (call[1][0] === 'a') queue._push(['track', ['c'], 3]);
    });
    assert.deepEqual(seen, ['a', 'b', 'c']);
    queue._drain(() => assert.fail('drained twice'));
  });
  test('is bounded', () => {
    const queue = createCallQueue();
    for (let i = 0; i < MAX_QUEUED_CALLS + 10; i++) queue._push(['track', [String(i)]]);
    let n = 0;
    queue._drain(() => n++);
    assert.equal(n, MAX_QUEUED_CALLS);
  });
});

describe('replayStub', () => {
  test('replays the recorded calls in order, then forwards later pushes', () => {
    const stub = [['init', ['k'], 1], 'garbage', ['track', ['x'], 2]];
    const seen = [];
    replayStub(stub, (call) => seen.push(call[0]));
    assert.deepEqual(seen, ['init', 'track']);
    assert.equal(stub.length, 0);
    stub.push(['page', [], 3]);
    assert.deepEqual(seen, ['init', 'track', 'page']);
  });
  test('ignores anything that is not a stub', () => {
    replayStub(undefined, () => assert.fail());
    replayStub({ length: 1, 0: ['x'] }, () => assert.fail());
  });
});
