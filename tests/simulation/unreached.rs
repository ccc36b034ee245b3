//! A fixed scenario beside the seeded runs: a hard-linked file's names removed while the
//! servers cannot reach each other, so the servers that removed them cannot take the
//! count down at the inode owner then (`Node::release`). Once the links are back the
//! count must come down with the background work, not stay too high for good.

use benchfs_testkit::in_process::InProcessCluster;

#[test]
fn counts_come_down_once_the_inode_owner_is_back() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let base = tempfile::tempdir().unwrap();
    benchfs::testkit::seed_file_ids(7);
    rt.block_on(async {
        let cluster = InProcessCluster::start(base.path(), 2).await.unwrap();
        let (client, _) = cluster.client_with(|_| {}).unwrap();
        client.create("/a", 0o644).await.unwrap().close().await.unwrap();
        // Names on both servers: some are held by the one that is not the inode owner.
        let names: Vec<String> = (0..8).map(|i| format!("/b{i}")).collect();
        for n in &names {
            client.link("/a", n).await.unwrap();
        }
        assert_eq!(client.stat("/a").await.unwrap().nlink, 9);
        for i in 0..2 {
            cluster.peer_link(i).unwrap().cut(1 - i);
        }
        for n in &names {
            client.unlink(n).await.unwrap();
        }
        cluster.heal();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert_eq!(client.stat("/a").await.unwrap().nlink, 1, "the count of the names removed meanwhile");
        drop(client);
        cluster.stop().await.unwrap();
    });
}
