import { EventStreamCodec } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

const header = (value: string) => ({ type: 'string' as const, value });

/** An `event` frame of the AWS event-stream encoding: `:event-type` names the union member, the body is its JSON. */
export function eventFrame(eventType: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': header('event'),
      ':event-type': header(eventType),
      ':content-type': header('application/json'),
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

/** An `exception` frame (`:exception-type` is the member, e.g. `throttlingException`); it ends the client's stream with that error. */
export function exceptionFrame(exceptionType: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': header('exception'),
      ':exception-type': header(exceptionType),
      ':content-type': header('application/json'),
    },
    body: fromUtf8(JSON.stringify({ message })),
  });
}
