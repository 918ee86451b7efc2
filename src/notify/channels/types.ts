/** One HTTP request to send: built by a channel, sent by the delivery code. */
export interface HttpDelivery {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}
