//! The subscription `capture` (`capture.frame` notifications, `capture.stop`
//! to end it): `swctl capture` over a WebSocket. The params are the CLI's
//! (`target`, `count`?, `snaplen`?; no `write`: the frames go to the
//! client); the first notification says where it captures, then one per
//! frame (`time_us`, `len` on the wire, `data` in base64, VLAN tags put
//! back), and a last one with the count when `count` is reached. The
//! socket is read on a blocking thread; it stops when the client goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::Params;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use serde_json::json;

use crate::effect::ovs::Servers;
use crate::effect::system::System;
use crate::lab::capture::{CaptureReq, base64, locate, start};

pub(super) async fn capture(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
) -> SubscriptionResult {
    let r: CaptureReq = match super::request(&params) {
        Ok(r) => r,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    if r.write.is_some() {
        pending
            .reject(super::bad(
                "`write` is the CLI's: over the API the frames come to the client",
            ))
            .await;
        return Ok(());
    }
    let spot = match System::new(Servers::none("not needed")) {
        Ok(k) => locate(&k, &r.target).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let cap = spot.and_then(|s| {
        start(&s, r.snaplen)
            .map(|c| (s, c))
            .map_err(|e| e.to_string())
    });
    let (spot, mut cap) = match cap {
        Ok(x) => x,
        Err(e) => {
            pending.reject(super::bad(e)).await;
            return Ok(());
        }
    };
    let sink = pending.accept().await?;
    sink.send(SubscriptionMessage::from_json(
        &json!({"event": "capturing", "target": r.target, "at": spot.to_string()}),
    )?)
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(1024);
    let reader = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while r.count.is_none_or(|c| n < c) && !stop.load(Ordering::Relaxed) {
                match cap.read() {
                    Ok(Some(f)) => {
                        let t = f
                            .time
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default();
                        let v = json!({"event": "frame", "time_us": t.as_micros() as u64,
                            "len": f.len, "data": base64(f.data)});
                        if tx.blocking_send(v).is_err() {
                            return;
                        }
                        n += 1;
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
            let _ = tx.blocking_send(json!({"event": "done", "frames": n}));
        })
    };
    loop {
        tokio::select! {
            v = rx.recv() => match v {
                Some(v) => {
                    let done = v["event"] == "done";
                    if sink.send(SubscriptionMessage::from_json(&v)?).await.is_err() || done {
                        break;
                    }
                }
                None => break,
            },
            _ = sink.closed() => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = reader.await;
    Ok(())
}
